"""``manage.py run_collector``: the collector process (trials/collector/runtime.py)."""

import logging
import signal

from django.core.management.base import BaseCommand

from trials.collector.runtime import Collector

logger = logging.getLogger("trials.collector")


class Command(BaseCommand):
    help = ("Collect equipment data while bookings run: MTConnect agents are polled, OPC UA "
            "servers and MQTT brokers subscribed to, readings stored. Runs until SIGTERM or "
            "SIGINT; several may run (each equipment is held by one at a time).")

    def add_arguments(self, parser):
        parser.add_argument("--name", help="This collector's name (default host:pid).")
        parser.add_argument("--interval", type=float,
                            help="Seconds between passes and heartbeats "
                                 "(default COLLECTOR_INTERVAL).")

    def handle(self, *args, name=None, interval=None, **options):
        collector = Collector(name=name, interval=interval)

        def stop(signum, frame):
            logger.info("Collector %s: stopping (signal %s)", collector.name, signum)
            collector.request_stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(f"Collector {collector.name} running (Ctrl+C to stop).")
        collector.run_forever()
        collector.stop()
        self.stdout.write(f"Collector {collector.name} stopped; {collector.written} "
                          "readings stored.")

"""``manage.py demo_plant`` (``make demo-plant``): the simulated plant the demo's MTConnect,
OPC UA and MQTT equipment read, on loopback, until Ctrl+C."""

import contextlib
import threading
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand

from trials import plant
from trials.plant.mqtt_publisher import Publisher
from trials.plant.mtconnect_agent import MTConnectAgent
from trials.plant.opcua_server import PlantServer


class Command(BaseCommand):
    help = ("Run the demo plant: an MTConnect agent (CNC cell, port 5000), an OPC UA server "
            "(metal printer, port 4840) and an MQTT publisher (robot) on the local broker "
            "(127.0.0.1:1883). With `make run` and `make collector`, trials that are checked "
            "in on those machines show live data.")

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=1.0,
                            help="Seconds between readings (default 1).")

    def handle(self, *args, interval: float = 1.0, **options):
        agent = MTConnectAgent(port=plant.MTCONNECT_PORT, buffer_size=131072).start()
        agent.run_machine(interval)
        server = PlantServer(port=plant.OPCUA_PORT).start()
        server.run_machine(interval)
        broker = urlsplit(plant.MQTT_URL)
        publisher = Publisher(plant.MQTT_URL, plant.MQTT_TOPIC, interval).start()
        self.stdout.write(
            f"Demo plant running (Ctrl+C stops):\n"
            f"  MTConnect agent  {agent.url}  (CNC cell, device cnc-1)\n"
            f"  OPC UA server    {server.url}  (metal printer)\n"
            f"  MQTT publisher   {broker.hostname}:{broker.port} topic {plant.MQTT_TOPIC}"
            f"  (robot)")
        try:
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C is how it stops
                threading.Event().wait()
        finally:
            publisher.stop()
            server.stop()
            agent.stop()

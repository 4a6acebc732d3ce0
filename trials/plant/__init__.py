"""Simulated plant equipment for tests and the demo: sources that speak the real
protocols (an MTConnect agent over HTTP, …), on loopback, with realistic readings."""

# The demo plant (``make demo-plant``): where each simulator serves, and the demo
# equipment that reads it (``seed_demo`` configures those three pieces of equipment).
MTCONNECT_PORT = 5000
OPCUA_PORT = 4840
MQTT_URL = "mqtt://127.0.0.1:1883"
MQTT_TOPIC = "testbed-demo/abb-yumi"


def demo_sources() -> dict[str, dict]:
    """Equipment slug → its result source fields in the demo (the configuration as the
    equipment stores it: normalised, defaults filled in)."""
    from equipment.sources import clean_config

    printer = [("Printer.LayerTemperature", "layer_temperature", "°C"),
               ("Printer.OxygenLevel", "oxygen_level", "ppm"),
               ("Printer.ChamberPressure", "chamber_pressure", "mbar"),
               ("Printer.LaserPower", "laser_power", "W")]
    sources = {
        "mazak-integrex-i200s": {"result_source_kind": "mtconnect",
                     "result_source_url": f"http://127.0.0.1:{MTCONNECT_PORT}",
                     "result_source_config": {"device": "cnc-1", "state_item": "exec"}},
        "eos-m290": {"result_source_kind": "opcua",
                     "result_source_url": f"opc.tcp://127.0.0.1:{OPCUA_PORT}",
                     "result_source_config": {
                         "nodes": [{"node_id": f"ns=2;s={name}", "metric": metric, "unit": unit}
                                   for name, metric, unit in printer],
                         "sampling_ms": 1000, "state_node": "ns=2;s=Printer.State"}},
        "abb-yumi": {"result_source_kind": "mqtt", "result_source_url": MQTT_URL,
                     "result_source_config": {"topic": f"{MQTT_TOPIC}/#",
                                              "state_metric": "state"}},
    }
    for fields in sources.values():
        fields["result_source_config"], _errors = clean_config(
            fields["result_source_kind"], fields["result_source_config"])
    return sources

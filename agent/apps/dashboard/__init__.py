"""`edge-agent dashboard`: a web page for operators, fed by the MQTT broker like any subscriber."""

"""MQTT: the broker link, topics, the durable outbox and the publisher."""

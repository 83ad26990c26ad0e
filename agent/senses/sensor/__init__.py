"""The sensor sense: Modbus registers judged by an Isolation Forest and limits."""

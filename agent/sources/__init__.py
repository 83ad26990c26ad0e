"""Sources: async streams of Samples from cameras, thermal cameras, microphones, Modbus."""

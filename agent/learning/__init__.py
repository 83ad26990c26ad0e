"""On-site learning: what each device learned of its own normal, kept, versioned and used."""

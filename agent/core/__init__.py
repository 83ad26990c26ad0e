"""The data path as values and pure functions: Sample -> Score -> Decision -> AlarmEvent."""

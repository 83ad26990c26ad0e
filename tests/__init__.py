"""Test suite of the edge inspection agent."""

"""Builders for the real client libraries, pointed at our HttpLayer (shared by each system's source and sink)."""

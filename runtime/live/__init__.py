"""Live segments: a registry of named segments in SQLite (``registry``), refreshed at a ``now`` with who entered and
who left (``refresh``), membership kept as roaring bitmaps that follow contacts by external id (``membership``)."""

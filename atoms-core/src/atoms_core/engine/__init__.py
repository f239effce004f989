"""The in-process engine: partitions (cache, group commit), the local hub, presence rooms."""

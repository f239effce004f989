"""Artifact stores: sidecar media and snapshots, by reference (local content-addressed; S3)."""

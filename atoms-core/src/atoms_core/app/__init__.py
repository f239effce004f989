"""The application: the composition root, the CLI, the demo."""

"""The local platform: template.yaml on one machine, no Docker, no internet."""

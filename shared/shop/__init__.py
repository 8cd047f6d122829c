"""The shop's shared code: domain models, services and AWS access, shipped as a Lambda layer."""

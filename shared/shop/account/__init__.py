"""A shopper's account as a whole: what the shop holds about them (an export) and forgetting
them (an erasure), across the services that keep their data. docs/privacy.md."""

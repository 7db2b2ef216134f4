"""Finance fixtures: the processing ones (demo data, the app served, its worker)."""

from tests.integration.processing.conftest import demo, demo_data, server, settings, worker

__all__ = ["demo", "demo_data", "server", "settings", "worker"]

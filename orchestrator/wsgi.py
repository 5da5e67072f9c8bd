"""WSGI entry for gunicorn (`web` in the Procfile)."""
from orchestrator.app import create_app
from orchestrator.runtime import freeze_startup_heap, start_embedded_services

app = create_app()
start_embedded_services(app)
freeze_startup_heap()

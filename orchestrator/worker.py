"""Entry for the `dramatiq` command (`worker` in the Procfile): builds the app, declares actors."""
from orchestrator.app import create_app
from orchestrator.runtime import freeze_startup_heap

app = create_app()
broker = app.extensions["chorus_broker"]
freeze_startup_heap()

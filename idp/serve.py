"""`idp serve`: gunicorn with N workers, each building the app from the same config."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, config_path: str | None, options: dict[str, Any]) -> None:
        self.config_path = config_path
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from .cli import build_app

        return build_app(self.config_path)


def run_gunicorn(config_path: str | None, host: str, port: int, workers: int,
                 threads: int = 8) -> None:
    # Threaded workers: a connection is handed to a thread only once its data arrives, so
    # slow or idle clients wait in the poller instead of holding a worker.
    _Gunicorn(
        config_path,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": threads,
            "keepalive": 5,
            "accesslog": "-",
            "timeout": 60,
            "graceful_timeout": 30,
        },
    ).run()

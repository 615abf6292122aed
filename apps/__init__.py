"""depthkit's applications: the ``depthkit`` CLI and the ``depthkit-live`` capture app.

Installed as ``depthkit.apps``; they use only depthkit's public API.
"""

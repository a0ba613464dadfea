"""The supervisors' board (FastAPI, server-rendered Jinja2): see web.app.create_app."""

"""The runtime layer: settings, clock, secret key, the bootstrap that builds a process's
runtime, and the sweep run with it.

It sits below flows/ and tasks/ and above models/service and notifications/, so that a flow
started by a Prefect worker — where the flow module is the process's entry point — can build
its runtime without importing app/ (the arrows point down: app/, web/ → flows/ → tasks/ →
models/runtime/ → models/service → models/db). It never imports app/, web/, flows/ or tasks/.
"""

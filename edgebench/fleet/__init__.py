"""The device fleet: `edgebench serve`, a job queue that devices pull from with their own tokens, and a read-only
web page of devices, jobs and results. Heavy imports (FastAPI, SQLAlchemy) stay inside this package."""

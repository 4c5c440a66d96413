"""The peer of ``bench.request_cost``: FastAPI's own hello-world, served by the same uvicorn settings as the
app (``uvicorn bench.bare_app:app``)."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
def read_root() -> dict[str, str]:
    return {"Hello": "World"}

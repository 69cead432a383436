"""``qstream gateway``: an HTTP front end to qstream's topics (FastAPI on uvicorn).

It holds no state that Kafka does not have, so several replicas may run:

- :mod:`qstream.gateway.view`: the task index, a pure function of the topics' records;
- :mod:`qstream.gateway.follower`: reads the topics from the beginning into it, then
  follows them; also the fleet's live state and the predictor snapshot;
- :mod:`qstream.gateway.estimate`: estimates with the dispatch agent's scheduler;
- :mod:`qstream.gateway.service`: admission (the partition agent's checks), publishing;
- :mod:`qstream.gateway.models`: response bodies (the OpenAPI document);
- :mod:`qstream.gateway.app`: the routes.
"""

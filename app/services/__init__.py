"""The use cases: what the API's routes and the worker ask of the system.

One function per use case, taking plain arguments and a session, returning domain
objects (ORM rows, arrays, response models) and raising the domain errors of
``app.errors``. Routes parse, call one of these and map errors to HTTP; SQL lives here,
in ``app.db`` and in ``app.jobqueue``.

    datasets    create (JSON arrays, upload, generate), list, read, download, delete
    jobs        create (with every check against the dataset and the limits), list,
                read, cancel, delete, metrics, weights, predict
    inspection  one traced forward/backward pass (POST /v1/backprop)
    live        consistent reads for the event stream and the plots
    training    what the worker needs besides the queue: load a claimed job, its
                time already trained, its final metrics
    export      a finished job's network as an ONNX model
    lineage     jobs started from other jobs (from_job: continue, weights), ancestors
    receipts    reproducibility receipts, replays and their verdicts
    environment what the worker records of its machine (versions, BLAS, CPU, OS)
"""

"""Cost attribution from OpenCost: the fetch job and roll-up (`fetch`), and the figures the pages
and the API show (`report`). Pages read only the database; the job is the one that asks OpenCost."""

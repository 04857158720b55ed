-- Reserved for retries, backoff, run_at, queues and the dead-letter view (issue 4).
SELECT 1;

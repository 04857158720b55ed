-- Reserved for idempotency keys and job templates (issue 4).
SELECT 1;

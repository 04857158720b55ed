-- Reserved: idempotency and templates (issue 4).
SELECT 1;

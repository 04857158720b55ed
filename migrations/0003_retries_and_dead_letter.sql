-- Reserved: retries and dead letter (issue 4).
SELECT 1;

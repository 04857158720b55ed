-- Reserved for live cluster configuration (issue 4).
SELECT 1;

-- Reserved: cluster config (issue 4).
SELECT 1;

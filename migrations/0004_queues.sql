-- Reserved: queues (issue 4).
SELECT 1;

-- Reserved: schedules (issue 4).
SELECT 1;

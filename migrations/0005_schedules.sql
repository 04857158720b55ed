-- Reserved for cron schedules (issue 4).
SELECT 1;

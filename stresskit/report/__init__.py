"""Reports: the JSON document (report.json_report) and the terminal output (report.console)."""

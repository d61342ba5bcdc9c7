"""Reports: the files a run leaves behind (JSON, Markdown, weights, plots)."""

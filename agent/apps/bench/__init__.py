"""`edge-agent bench`: the real pipeline on 1080p streams, timed stage by stage; and our
detector path against Ultralytics' predictor (ultralytics_compare)."""

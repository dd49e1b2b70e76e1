"""`sdc build`: images from a Containerfile (Dockerfile), each step a snapshot of the one before."""

"""The model downloader that runs inside an ArksModel's download Job: one hub repository into the model volume.

A standalone program (`arks-model-download`): it must not import NATS, Kubernetes clients or the rest of the
model-loader service, because it runs alone in the Job's pod.
"""

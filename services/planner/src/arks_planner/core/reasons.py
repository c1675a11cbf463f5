"""The reasons of the `Precheck` condition: constants a program can match on, one per way a spec can fail."""

from __future__ import annotations

from enum import StrEnum


class PrecheckReason(StrEnum):
    PASS = "PrecheckPass"
    INVALID_SPEC = "InvalidSpec"
    INVALID_NAME = "InvalidName"
    UNSUPPORTED_DRIVER = "UnsupportedDriver"
    UNSUPPORTED_RUNTIME = "UnsupportedRuntime"
    RESERVED_VOLUME_NAME = "ReservedVolumeName"
    RESERVED_MOUNT_PATH = "ReservedMountPath"
    RESERVED_LABEL = "ReservedLabel"
    TENSOR_PARALLEL_TOO_LARGE = "TensorParallelTooLarge"
    MODEL_NOT_FOUND = "ModelNotFound"
    MODEL_UNREADABLE = "ModelUnreadable"
    PLAN_TOO_LARGE = "PlanTooLarge"
    MODEL_STORAGE_NOT_SHARED = "ModelStorageNotShared"
    INVALID_EXTRA_OPTIONS = "InvalidExtraOptions"
    OPTION_SET_BY_ARKS = "OptionSetByArks"
    PARALLELISM_NOT_DIVISIBLE = "ParallelismNotDivisible"
    RUNTIME_ENV_MISSING = "RuntimeEnvMissing"
    GROUP_DOES_NOT_FIT_NODE = "GroupDoesNotFitNode"
    DISAGGREGATION_NOT_SUPPORTED = "DisaggregationNotSupported"


PASS_MESSAGE = "The application passed the pre-checking"
"""The user guide's message for a passed precheck, kept word for word."""

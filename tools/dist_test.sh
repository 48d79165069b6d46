#!/usr/bin/env bash
# Usage: bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [test.py options]
usage() {
    echo "error: $1" >&2
    echo "usage: bash $0 CONFIG CHECKPOINT NUM_PROCS [test.py options]" >&2
    echo "  NUM_PROCS: processes (GPUs) on this node, a positive integer" >&2
    echo "  multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT environment variables" >&2
    exit 2
}
[ $# -ge 3 ] || usage "expected at least 3 arguments, got $#"
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
[[ "$NPROC" =~ ^[1-9][0-9]*$ ]] || usage "NUM_PROCS must be a positive integer, got '$NPROC'"
[ -f "$CONFIG" ] || usage "config file not found: $CONFIG"
[ -f "$CHECKPOINT" ] || usage "checkpoint file not found: $CHECKPOINT"
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" \
    --master_port="$PORT" \
    "$(dirname "$0")/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch "${@:4}"

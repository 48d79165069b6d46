#!/usr/bin/env bash
# Usage: bash tools/dist_train.sh CONFIG NUM_PROCS [train.py options]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT environment variables.
usage() {
    echo "error: $1" >&2
    echo "usage: bash $0 CONFIG NUM_PROCS [train.py options]" >&2
    echo "  NUM_PROCS: processes (GPUs) on this node, a positive integer" >&2
    echo "  multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT environment variables" >&2
    exit 2
}
[ $# -ge 2 ] || usage "expected at least 2 arguments, got $#"
CONFIG=$1
NPROC=$2
[[ "$NPROC" =~ ^[1-9][0-9]*$ ]] || usage "NUM_PROCS must be a positive integer, got '$NPROC'"
[ -f "$CONFIG" ] || usage "config file not found: $CONFIG"
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
    "$(dirname "$0")/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"

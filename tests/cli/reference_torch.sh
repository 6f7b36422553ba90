# An independent reference: plow's logits, log-probs, loss and gradients for
# tiny (full and LoRA) match a PyTorch implementation written from the Hugging
# Face Llama equations within 1e-4 relative error; the GGUF export matches the
# weights under llama.cpp's layout, read by a GGUF reader written from the spec.
set -e
. "$LIB"
PY=/usr/bin/python3
$PY -c "import torch, numpy" || fail "python3-torch / python3-numpy missing (scripts/install-deps.sh test)"
head -c 150000 "$ROOT/data/tinyshakespeare.txt" > d.txt
$PLOW train --data d.txt --config tiny --vocab 400 --steps 30 --batch 4 --seq 64 --out m > /dev/null
TEXT="ROMEO: But, soft! what light through yonder window breaks? It is the east, and Juliet is the sun."
$PLOW dump --model m --text "$TEXT" --out dump.safetensors
$PY "$ROOT/tests/reference.py" forward m dump.safetensors
# LoRA on all targets; train a few steps so B is not zero
$PLOW train --data d.txt --lora --base m --targets all --rank 4 --steps 5 --batch 2 --seq 32 --lr 0.01 --out a > /dev/null
$PLOW dump --model m --lora a --text "$TEXT" --out dump_lora.safetensors
$PY "$ROOT/tests/reference.py" forward m dump_lora.safetensors a
# untied embeddings and no GQA: small's shape family, at tiny cost
$PLOW train --data d.txt --config small --vocab 400 --steps 1 --batch 1 --seq 16 --out s > /dev/null
$PLOW dump --model s --text "$TEXT" --out dump_small.safetensors
$PY "$ROOT/tests/reference.py" forward s dump_small.safetensors
# GGUF
$PLOW export gguf m m.gguf
$PY "$ROOT/tests/reference.py" gguf m m.gguf
$PLOW export gguf s s.gguf
$PY "$ROOT/tests/reference.py" gguf s s.gguf

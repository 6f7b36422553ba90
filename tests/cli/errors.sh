# Bad input gets a clear error and exit 1: missing files, malformed models,
# tokenizers and GGUF files, wrong SIMD path, a model/tokenizer mismatch.
set -e
. "$LIB"
head -c 30000 "$ROOT/data/tinyshakespeare.txt" > small.txt
expect_fail 1 $PLOW train --data nonexistent.txt --out r --config tiny --steps 1
grep -q "cannot open 'nonexistent.txt'" err.txt || fail "message: $(cat err.txt)"
expect_fail 1 $PLOW train --data small.txt --out r --config enormous --steps 1 --vocab 300
grep -q "unknown model config 'enormous'" err.txt || fail "message: $(cat err.txt)"
expect_fail 1 $PLOW train --data small.txt --out r --config tiny --steps 1 --vocab 300 --simd avx9000
expect_fail 1 $PLOW train --data small.txt --out r --config tiny --steps 1 --vocab 300 --seq 500
grep -q "sequence length" err.txt || fail "message: $(cat err.txt)"
# a good tiny run to damage
$PLOW train --data small.txt --out run --config tiny --steps 2 --vocab 300 --batch 2 --seq 32 > out.txt
[ -n "$(state_of out.txt)" ] || fail "no state line"
$PLOW info run/model.safetensors | grep -q "config tiny" || fail "info"
$PLOW info run/tokenizer.bin | grep -q "tokenizer, 300 tokens" || fail "info tokenizer"
# the LM head: the config's (tiny: tied), or chosen with --tied; a config.json
# that contradicts the weights is named, not silently overruled
$PLOW info run/model.safetensors | grep -q "tied embeddings" || fail "tiny is tied by default"
expect_fail 2 $PLOW train --data small.txt --out r --config tiny --steps 1 --vocab 300 --tied maybe
grep -q "yes or no" err.txt || fail "message: $(cat err.txt)"
$PLOW train --data small.txt --tokenizer run/tokenizer.bin --out untied --config tiny --tied no --steps 1 \
    --batch 2 --seq 32 > /dev/null
$PLOW info untied/model.safetensors > info.txt
grep -q "config tiny" info.txt && ! grep -q "tied embeddings" info.txt || fail "--tied no: $(cat info.txt)"
grep -q '"tie_word_embeddings":.*false' untied/config.json || fail "config.json of --tied no"
expect_fail 1 $PLOW train --data small.txt --base untied --lora --out l --steps 1 --tied yes
grep -q "keeps its base model's head" err.txt || fail "message: $(cat err.txt)"
sed 's/"tie_word_embeddings":.*false/"tie_word_embeddings": true/' untied/config.json > c.json && mv c.json untied/config.json
expect_fail 1 $PLOW generate --model untied --prompt "To be" --tokens 3
grep -q "config.json and model.safetensors disagree: config.json says tie_word_embeddings true" err.txt ||
    fail "message: $(cat err.txt)"
# truncated model
size=$(stat -c %s run/model.safetensors)
head -c $((size / 2)) run/model.safetensors > bad.safetensors
cp run/tokenizer.bin tokenizer.bin
expect_fail 1 $PLOW generate --model bad.safetensors --prompt "To be" --tokens 3
expect_fail 1 $PLOW info bad.safetensors
# garbage
head -c 5000 /dev/urandom > junk.bin
expect_fail 1 $PLOW info junk.bin
expect_fail 1 $PLOW generate --model junk.bin --prompt "x" --tokens 1
printf 'GGUF\003\000\000\000garbage' > junk.gguf
expect_fail 1 $PLOW info junk.gguf
printf 'PLOWBPE\000\001\000\000' > junk.tok
expect_fail 1 $PLOW info junk.tok
expect_fail 1 $PLOW train --data small.txt --out r2 --config tiny --steps 1 --tokenizer junk.tok
# a tokenizer that does not fit the model
$PLOW tokenizer train --data small.txt --vocab 400 --out other.tok > /dev/null
expect_fail 1 $PLOW generate --model run --tokenizer other.tok --prompt "x" --tokens 1
grep -q "400 tokens but the model has 300" err.txt || fail "message: $(cat err.txt)"
# an adapter on the wrong base
$PLOW train --data small.txt --out run2 --config tiny --steps 1 --vocab 300 --batch 2 --seq 32 --seed 9 > /dev/null
$PLOW train --data small.txt --out ad --lora --base run --steps 1 --batch 2 --seq 32 > /dev/null
expect_fail 1 $PLOW generate --model run2 --lora ad --prompt "x" --tokens 1
grep -q "another base model" err.txt || fail "message: $(cat err.txt)"
# the good model still works after all that
$PLOW generate --model run --prompt "To be" --tokens 5 --temperature 0 > g.txt
grep -q "^To be" g.txt || fail "generate output: $(cat g.txt)"

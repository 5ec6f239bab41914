"""A preference loss exported by discover, plugged into TRL's DPOTrainer.

    discover export 42 --format pytorch -o found_loss.py

TRL computes the summed log-probs of the chosen and rejected responses under the policy
and the reference model and hands them to DPOTrainer.dpo_loss, which returns the per-pair
losses and the implicit rewards. Overriding that one method swaps in the found loss; the
exported `loss` takes those four tensors in TRL's order, plus beta.

TRL is not packaged in Debian, so discover's tests only check that this file parses. The
method's name and its first four arguments are stable across TRL releases; newer releases
pass extra keyword arguments (ignored here), and the length arguments of `loss` stay at
their default (1: no length normalisation) because dpo_loss does not receive lengths.
"""

import importlib.util

from trl import DPOConfig, DPOTrainer


def load_exported(path):
    spec = importlib.util.spec_from_file_location("found_loss", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if module.META["interface"] != "preference":
        raise ValueError(f"{path} holds a {module.META['interface']} loss; DPOTrainer needs a "
                         "preference one")
    return module


class FoundLossDPOTrainer(DPOTrainer):
    """DPOTrainer whose loss is a module written by 'discover export --format pytorch'."""

    def __init__(self, *args, found_loss, **kwargs):
        super().__init__(*args, **kwargs)
        self.found_loss = found_loss

    def dpo_loss(self, policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                 reference_rejected_logps, *args, **kwargs):
        losses = self.found_loss.loss(policy_chosen_logps, policy_rejected_logps,
                                      reference_chosen_logps, reference_rejected_logps,
                                      self.beta)
        chosen_rewards = self.beta * (policy_chosen_logps - reference_chosen_logps).detach()
        rejected_rewards = self.beta * (policy_rejected_logps - reference_rejected_logps).detach()
        return losses, chosen_rewards, rejected_rewards


def main():
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    found = load_exported("found_loss.py")
    name = "Qwen/Qwen2-0.5B-Instruct"
    model = AutoModelForCausalLM.from_pretrained(name)
    tokenizer = AutoTokenizer.from_pretrained(name)
    data = load_dataset("trl-lib/ultrafeedback_binarized", split="train")
    args = DPOConfig(output_dir="dpo-found-loss", beta=0.05, per_device_train_batch_size=4)
    trainer = FoundLossDPOTrainer(model=model, args=args, train_dataset=data,
                                  processing_class=tokenizer, found_loss=found)
    trainer.train()


if __name__ == "__main__":
    main()

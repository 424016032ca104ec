/**
 * Smooth weighted round robin (nginx's): each pick adds every choice's weight
 * to its running score, takes the highest score and takes the total back from
 * it. Over any run of `total weight` picks each choice gets exactly its weight,
 * and the picks are spread out (90/10 gives one in ten, not ten in a row).
 * Deterministic: no randomness, so splits are exact rather than close.
 */
export class WeightedChooser<Choice> {
  private readonly scores: number[];
  private readonly total: number;

  /** @param weighted choices with weights > 0 (others never come out); at least one. */
  constructor(private readonly weighted: readonly { readonly choice: Choice; readonly weight: number }[]) {
    if (weighted.length === 0) throw new Error('WeightedChooser needs at least one choice');
    this.scores = weighted.map(() => 0);
    this.total = weighted.reduce((sum, { weight }) => sum + weight, 0);
  }

  next(): Choice {
    let best = 0;
    for (let i = 0; i < this.weighted.length; i++) {
      this.scores[i] = (this.scores[i] as number) + (this.weighted[i] as { weight: number }).weight;
      if ((this.scores[i] as number) > (this.scores[best] as number)) best = i;
    }
    this.scores[best] = (this.scores[best] as number) - this.total;
    return (this.weighted[best] as { choice: Choice }).choice;
  }
}

// Where a peer stands in the current round.
export enum RoundStage {
  /** not enough live members yet to start the round */
  Gathering = 'gathering',
  /** the round is due: waiting for its aggregator's announce (failing over when it stays silent) */
  AwaitAnnounce = 'await_announce',
  /** selected: training on local data from the round's base adapter */
  Training = 'training',
  /** selected: sending the update to the aggregator */
  Pushing = 'pushing',
  /** waiting for the aggregator's RoundResult (failing over when it stays silent past the deadline) */
  AwaitResult = 'await_result',
  /** aggregator: collecting the selected peers' updates until all answered or the deadline */
  Collecting = 'collecting',
  /** aggregator: running the aggregation rule and publishing the result */
  Aggregating = 'aggregating',
  /** all rounds of the job are done; still serving the final adapter */
  Done = 'done'
}

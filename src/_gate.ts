/** A promise that a reader awaits until someone opens it (Promise.withResolvers is missing on Node 20). */
export class Gate {
  readonly promise: Promise<void>;
  open!: () => void;

  constructor() {
    this.promise = new Promise((resolve) => this.open = resolve);
  }
}

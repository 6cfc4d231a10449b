"""Networks and losses around the lip field: composition into observed frames, Blend-Net, the sync expert."""
